# The README's commands. Every target installs first, so a fresh clone needs nothing else. Without a GPU the
# campaigns run the small scale (the compiler's kernels in Triton's interpreter: checked, not timed).
PY ?= python3
# the FlashTensor artifact's backup_logs (fig12/, fig13/, fig14/ of its repository)
ARTIFACT ?= ../shared/reference/flashtensor-ae-backup-logs
# a scale for the campaigns (full, small, tiny) instead of the machine's default, e.g. make report SCALE=tiny
SCALE ?=
SUBMIT = $(PY) -m ftrun submit --cluster local $(if $(SCALE),--scale $(SCALE))

.PHONY: campaign test install fig12 fig13 fig14 smoke report artifact-figures

# the main job on the embedded default: every Fig. 12 case on this machine, then its figure
campaign: fig12
	$(PY) -m ftrun status --summary

# one experiment's cases on this machine (those with a result are skipped), then its figure
fig12 fig13 fig14 smoke: install
	$(SUBMIT) $@
	$(PY) -m ftrun plot $@

# every campaign this machine can run, then one self-contained page of them: report/index.html
report: install
	$(SUBMIT) fig12
	$(SUBMIT) fig13
	$(SUBMIT) fig14
	$(PY) -m ftrun report fig12 fig13 fig14 --out report

# the paper's figures from the artifact's own logs, in a runs folder of their own
artifact-figures: install
	$(PY) -m ftrun results import $(ARTIFACT) --runs-dir artifact-runs
	for fig in fig12 fig13 fig14; do $(PY) -m ftrun plot $$fig --runs-dir artifact-runs --out artifact-figures; done

# the CPU test suite (CI runs this through .ci/run)
test: install
	bash scripts/test.sh

install:
	bash scripts/install.sh
