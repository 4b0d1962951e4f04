"""The public API of ``import tais`` is exactly ``tais.__all__``: every name in it imports, and every public
attribute that is not a sub-package is in it. ``tais.screen`` is only the screen package."""

from __future__ import annotations

import importlib
import types

import tais


def test_every_name_in_all_imports():
    for name in tais.__all__:
        assert getattr(tais, name) is not None
        exec(f"from tais import {name}", {})


def test_nothing_public_is_missing_from_all():
    api = importlib.import_module("tais.pipeline.api")
    importlib.import_module("tais.screen.analyse")  # sub-packages bound on the package are not API
    public = {n for n in dir(tais) if not n.startswith("_") and not isinstance(getattr(tais, n), types.ModuleType)}
    assert public == set(tais.__all__) - {"__version__"}
    assert tais.run_screen is api.run_screen and tais.assert_screen_passes is api.assert_screen_passes


def test_tais_screen_is_only_the_package():
    import tais.screen

    assert isinstance(tais.screen, types.ModuleType) and type(tais.screen) is types.ModuleType
    assert not callable(tais.screen) and type(tais) is types.ModuleType
    assert "screen" not in tais.__all__


def test_an_unknown_name_is_an_attribute_error():
    try:
        tais.no_such_name  # noqa: B018
    except AttributeError as exc:
        assert "no_such_name" in str(exc)
    else:
        raise AssertionError("tais.no_such_name resolved")
