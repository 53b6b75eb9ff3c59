"""Training tests share one persistent XLA compilation cache per session: the tiny train step
compiles once, not once per test and subprocess (that is minutes on 2 CPU cores)."""
import jax
import pytest
from jax.experimental.compilation_cache import compilation_cache


@pytest.fixture(scope="session")
def xla_cache_dir(tmp_path_factory):
  return str(tmp_path_factory.mktemp("xla_cache"))


@pytest.fixture(scope="module", autouse=True)
def compile_cache(xla_cache_dir):
  """Turns the cache on for this module's in-process compiles, and off again after."""
  old = jax.config.jax_persistent_cache_min_compile_time_secs
  jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
  compilation_cache.set_cache_dir(xla_cache_dir)
  compilation_cache.reset_cache()
  yield xla_cache_dir
  compilation_cache.set_cache_dir(None)
  compilation_cache.reset_cache()
  jax.config.update("jax_persistent_cache_min_compile_time_secs", old)
