"""The package's top-level names: what ``from hpt_core import X`` offers users."""

import hpt_core


def test_every_exported_name_resolves_and_plain_import_stays_light():
    import subprocess
    import sys

    for name in hpt_core.__all__:
        assert getattr(hpt_core, name) is not None, name
    # `import hpt_core` alone must not pull in torch (hierarchy and data tools stay cheap).
    out = subprocess.run([sys.executable, "-c", "import sys, hpt_core; print('torch' in sys.modules)"],
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
