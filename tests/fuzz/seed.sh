#!/bin/sh
# Seeds the fuzz corpora from the route fixtures: every `.route` file goes
# to corpus/route_file/, every route `.yaml` file to corpus/yaml_file/,
# the request bodies of seeds/inbound/ to corpus/inbound/.
# Run from anywhere; existing corpus entries are kept (libFuzzer adds its
# own finds next to these).
set -eu
fuzz="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$fuzz/../.." && pwd)"
mkdir -p "$fuzz/corpus/route_file" "$fuzz/corpus/yaml_file"
for f in "$root"/tests/routes/valid/*.route "$root"/tests/routes/valid/multi/*.route \
         "$root"/tests/routes/invalid/*.route "$root"/tests/routes/twins/*.route \
         "$root"/routes/*.route "$root"/routes/examples/*.route; do
  [ -f "$f" ] && cp "$f" "$fuzz/corpus/route_file/seed-$(echo "${f#"$root"/}" | tr / _)"
done
for f in "$root"/tests/routes/valid/*.yaml "$root"/tests/routes/valid/multi/*.yaml \
         "$root"/tests/routes/invalid/*.yaml "$root"/tests/routes/twins/*.yaml \
         "$root"/routes/*.yaml "$root"/routes/examples/*.yaml; do
  case "$f" in *.expect.yaml) continue ;; esac
  [ -f "$f" ] && cp "$f" "$fuzz/corpus/yaml_file/seed-$(echo "${f#"$root"/}" | tr / _)"
done
mkdir -p "$fuzz/corpus/inbound"
cp "$fuzz"/seeds/inbound/*.json "$fuzz/corpus/inbound/"
echo "inbound: $(ls "$fuzz/corpus/inbound" | wc -l) inputs"
echo "route_file: $(ls "$fuzz/corpus/route_file" | wc -l) inputs, yaml_file: $(ls "$fuzz/corpus/yaml_file" | wc -l) inputs"
