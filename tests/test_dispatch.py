"""Runtime ISA dispatch: FUSEDRNN_ISA caps the choice at import, asking for more than the machine has or
for an unknown path falls back with a warning, and cpu_info reports what is in use."""

import json
import os
import subprocess
import sys

import pytest

import fusedrnn as fr

SUPPORTED = fr.cpu_info()["supported_isas"]


def import_with_isa(value):
    env = dict(os.environ, FUSEDRNN_ISA=value)
    code = (
        "import json, warnings\n"
        "with warnings.catch_warnings(record=True) as caught:\n"
        "    warnings.simplefilter('always')\n"
        "    import fusedrnn\n"
        "messages = [str(w.message) for w in caught]\n"
        "print(json.dumps({'isa': fusedrnn.cpu_info()['isa'], 'warnings': messages}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def test_cpu_info_describes_the_active_path():
    info = fr.cpu_info()
    assert info["isa"] in ("avx512", "avx2", "generic")
    assert info["isa"] == SUPPORTED[0]  # the best one by default
    assert "generic" in SUPPORTED
    assert info["microkernel_float32"].startswith(info["isa"])


@pytest.mark.parametrize("isa", SUPPORTED)
def test_env_var_selects_each_supported_path(isa):
    result = import_with_isa(isa)
    assert result == {"isa": isa, "warnings": []}


def test_unknown_request_warns_and_uses_the_best_path():
    result = import_with_isa("sse9")
    assert result["isa"] == SUPPORTED[0]
    assert any("FUSEDRNN_ISA='sse9'" in w for w in result["warnings"])


@pytest.mark.skipif("avx512" in SUPPORTED, reason="this machine runs AVX-512")
def test_unsupported_request_falls_back_with_a_warning():
    result = import_with_isa("avx512")
    assert result["isa"] == SUPPORTED[0]
    assert any("not supported" in w for w in result["warnings"])


def test_private_switch_refuses_unsupported_paths():
    with pytest.raises(ValueError, match="isa"):
        fr._core._select_isa("sse9")
