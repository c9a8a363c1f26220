# The two commands the README names. Both install what they need first.
.PHONY: dev test bench bench-routes bench-engine bench-translate faults

## Run the gateway locally (mock provider + Worker in workerd) and print a curl example.
dev:
	@sh scripts/dev.sh

## Run every test: unit, lint, wasm build, deploy dry run, end to end.
test:
	@sh scripts/test.sh

## Benchmarks (not part of `make test`): see bench/README.md.
bench:
	@sh bench/run.sh

## Route-language benchmarks (native): compile a 1,000-route file, select in a 100-route plan.
bench-routes:
	@cargo bench -q --bench routes

## Engine overhead per request (native, I/O excluded).
bench-engine:
	@cargo bench -q --bench engine

## Translation between wire formats, per request and per stream event (native).
bench-translate:
	@cargo bench -q --bench translate

## Fault matrix (not part of `make test`, which runs a reduced one): see tests/faults/README.md.
## PER_CELL=200 by default; the table goes to stdout, the JSON to bench/results/faults.json.
faults:
	@cargo build -q --release -p mock-provider && sh scripts/build-worker.sh >/dev/null && mkdir -p bench/results && \
		node tests/faults/matrix.mjs --per-cell $${PER_CELL:-200} --json bench/results/faults.json
