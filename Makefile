# The two set-up commands of README.md: `make demo` (main job) and `make test` (every test).
.PHONY: demo test check images demo-clean

demo:
	scripts/demo.sh

test:
	scripts/test.sh

# lint, sanity, build check and unit tests only (no test hosts): a minute or two.
check:
	CLAWDEPLOY_FAST=1 scripts/test.sh

images:
	scripts/images.sh

demo-clean:
	bash -c '. scripts/env.sh && molecule destroy -s demo'
