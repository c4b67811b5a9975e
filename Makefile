# The two set-up commands of README.md: `make demo` (main job) and `make test` (every test).
.PHONY: demo test lint unit images demo-clean

demo:
	scripts/demo.sh

test:
	scripts/test.sh

images:
	scripts/images.sh

demo-clean:
	. scripts/env.sh && molecule destroy -s default
