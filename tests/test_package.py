"""The package's top-level names: what ``from hpt_core import X`` offers users."""

import hpt_core


def test_every_exported_name_resolves_and_plain_import_stays_light():
    import subprocess
    import sys

    import types

    for name in hpt_core.__all__:
        value = getattr(hpt_core, name)
        # a name that is also a submodule would come back as the module once it is imported
        assert callable(value) and not isinstance(value, types.ModuleType), name
    # `import hpt_core` alone must not pull in torch (hierarchy and data tools stay cheap).
    out = subprocess.run([sys.executable, "-c", "import sys, hpt_core; print('torch' in sys.modules)"],
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
