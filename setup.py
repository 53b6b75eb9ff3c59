"""soundgen_jax: neural audio generation (codecs, audio LMs, SoundStorm) in JAX / Flax NNX."""
import setuptools

setuptools.setup(
    name="soundgen_jax",
    version="0.1.0",
    description="Neural audio codecs, text-to-audio LMs and SoundStorm in JAX / Flax NNX",
    packages=setuptools.find_packages(include=["soundgen_jax", "soundgen_jax.*", "configs"]),
    # The bundled checkpoints (orbax folders) travel with the package, and the source of the
    # XLA:CPU decode kernels, compiled on first use (soundgen_jax/nn/cpu_kernels.py).
    package_data={"soundgen_jax": ["assets/*/*", "assets/*/*/*", "assets/*/*/*/*",
                                   "assets/*/*/*/*/*", "assets/*/*/*/*/*/*", "nn/*.cc"]},
    python_requires=">=3.10",
    install_requires=[
        "jax>=0.7,<0.13",
        "flax>=0.11,<0.13",
        "optax>=0.2.4",
        "orbax-checkpoint>=0.11",
        "seqio>=0.0.19",
        "tensorflow-datasets>=4.9",
        "ml_collections>=1.0",
        "absl-py>=2.0",
        "numpy>=1.26",
        "scipy>=1.11",  # signal analysis in eval/adherence.py (also a jax dependency)
        "soundfile>=0.12",
        "soxr>=0.4",
        "safetensors>=0.4",
        "tqdm>=4.66",
        "tokenizers>=0.15",  # WordPiece of the MiniLM / BERT text encoders
        "sentencepiece>=0.1.99",  # T5 vocabularies (seqio) and caption-trained SPMs
        "clu>=0.0.12",  # metric writers of the training loop
        "tensorboard>=2.16",  # TensorBoard summaries (clu's summary writer imports it)
    ],
    extras_require={
        "test": [
            "pytest>=8",
            "pytest-xdist>=3.5",
            "torch==2.13.0",
            "transformers>=4.45",
            # colab/ notebooks executed top to bottom (tests/test_notebooks.py)
            "jupytext>=1.16",
            "nbclient>=0.10",
            "nbformat>=5.9",
            "ipykernel>=6.29",
        ],
        # scripts/fetch_corpus.py --packages all: scores rendered to audio (music21-midi)
        "corpus": ["music21>=9"],
        # scripts/plot_metrics.py: training curves from WORKDIR/metrics.jsonl
        "demo": ["matplotlib>=3.7"],
    },
)
