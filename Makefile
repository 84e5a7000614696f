# The two set-up commands of the README. Both install first, so a fresh clone needs nothing else.
PY ?= python3

.PHONY: campaign test install

# the main job on the embedded default: every Fig. 12 case on this machine, then its figure
campaign: install
	$(PY) -m ftrun submit fig12 --cluster local
	$(PY) -m ftrun status --summary
	$(PY) -m ftrun plot fig12

# the CPU test suite (CI runs this through .ci/run)
test: install
	bash scripts/test.sh

install:
	bash scripts/install.sh
