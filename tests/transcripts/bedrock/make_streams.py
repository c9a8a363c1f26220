#!/usr/bin/env python3
"""Writes the ConverseStream transcripts (*.bin) of this folder: AWS
event-stream frames shaped as Bedrock sends them (headers :event-type,
:content-type, :message-type; payloads with Bedrock's `p` padding field),
framed here with Python's struct and zlib.crc32, independently of the Rust
encoder. Run: python3 tests/transcripts/bedrock/make_streams.py"""
import json
import os
import struct
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))


def header(name, value):
    n, v = name.encode(), value.encode()
    return struct.pack(">B", len(n)) + n + struct.pack(">BH", 7, len(v)) + v


def frame(headers, payload):
    hs = b"".join(header(k, v) for k, v in headers)
    total = 16 + len(hs) + len(payload)
    prelude = struct.pack(">II", total, len(hs))
    body = prelude + struct.pack(">I", zlib.crc32(prelude)) + hs + payload
    return body + struct.pack(">I", zlib.crc32(body))


def event(kind, payload):
    return frame([(":event-type", kind), (":content-type", "application/json"), (":message-type", "event")],
                 json.dumps(payload, separators=(",", ":")).encode())


def exception(kind, payload):
    return frame([(":exception-type", kind), (":content-type", "application/json"), (":message-type", "exception")],
                 json.dumps(payload, separators=(",", ":")).encode())


P = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0"

STREAMS = {
    "stream_text.bin": [
        event("messageStart", {"p": P[:12], "role": "assistant"}),
        event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "Hello"}, "p": P[:20]}),
        event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "! How can"}, "p": P[:5]}),
        event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": " I help?"}, "p": P[:30]}),
        event("contentBlockStop", {"contentBlockIndex": 0, "p": P[:9]}),
        event("messageStop", {"p": P[:16], "stopReason": "end_turn"}),
        event("metadata", {"metrics": {"latencyMs": 412}, "p": P[:3],
                           "usage": {"cacheReadInputTokens": 1024, "cacheWriteInputTokens": 0,
                                     "inputTokens": 12, "outputTokens": 9, "totalTokens": 1045}}),
    ],
    "stream_tools.bin": [
        event("messageStart", {"p": P[:12], "role": "assistant"}),
        event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "Checking both cities."}, "p": P[:8]}),
        event("contentBlockStop", {"contentBlockIndex": 0, "p": P[:9]}),
        event("contentBlockStart", {"contentBlockIndex": 1, "p": P[:4],
                                    "start": {"toolUse": {"name": "get_weather", "toolUseId": "tooluse_kZJMlvQmRJ6eAyJE5GIl7Q"}}}),
        event("contentBlockDelta", {"contentBlockIndex": 1, "delta": {"toolUse": {"input": ""}}, "p": P[:7]}),
        event("contentBlockDelta", {"contentBlockIndex": 1, "delta": {"toolUse": {"input": "{\"city\": \"Par"}}, "p": P[:7]}),
        event("contentBlockDelta", {"contentBlockIndex": 1, "delta": {"toolUse": {"input": "is\"}"}}, "p": P[:7]}),
        event("contentBlockStop", {"contentBlockIndex": 1, "p": P[:9]}),
        event("contentBlockStart", {"contentBlockIndex": 2, "p": P[:4],
                                    "start": {"toolUse": {"name": "get_weather", "toolUseId": "tooluse_Q2x9Rk3mTqWbN8YhL1vZcA"}}}),
        event("contentBlockDelta", {"contentBlockIndex": 2, "delta": {"toolUse": {"input": "{\"city\": \"Oslo\"}"}}, "p": P[:7]}),
        event("contentBlockStop", {"contentBlockIndex": 2, "p": P[:9]}),
        event("messageStop", {"p": P[:16], "stopReason": "tool_use"}),
        event("metadata", {"metrics": {"latencyMs": 1288}, "p": P[:3],
                           "usage": {"inputTokens": 310, "outputTokens": 96, "totalTokens": 406}}),
    ],
    "stream_max_tokens.bin": [
        event("messageStart", {"p": P[:12], "role": "assistant"}),
        event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "Once upon a"}, "p": P[:20]}),
        event("contentBlockStop", {"contentBlockIndex": 0, "p": P[:9]}),
        event("messageStop", {"p": P[:16], "stopReason": "max_tokens"}),
        event("metadata", {"metrics": {"latencyMs": 97}, "p": P[:3],
                           "usage": {"inputTokens": 5, "outputTokens": 3, "totalTokens": 8}}),
    ],
    "stream_exception.bin": [
        event("messageStart", {"p": P[:12], "role": "assistant"}),
        event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "Partial"}, "p": P[:20]}),
        exception("modelStreamErrorException", {"message": "The model stream was interrupted.",
                                                "originalMessage": "upstream reset", "originalStatusCode": 500}),
    ],
    "stream_throttled.bin": [
        exception("throttlingException", {"message": "Too many tokens, please wait before trying again."}),
    ],
}

for name, frames in STREAMS.items():
    with open(os.path.join(HERE, name), "wb") as f:
        f.write(b"".join(frames))
    print(name, sum(len(x) for x in frames), "bytes")
