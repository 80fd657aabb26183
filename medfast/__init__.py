"""medfast: train, evaluate, explain and ship transfer-learning medical image classifiers in a few notebook cells.

Every public function and class of every module is importable from the top level (`from medfast import evaluate,
pneumonia_study`). The names are read from nbdev's symbol index (`medfast/_modidx.py`, written by `nbdev-export`),
and each module is imported only when one of its names is first used, so `import medfast` and the `medfast`
command start fast."""
__version__ = "0.1.0"

def _public_names() -> dict:
    "{name: module} for every public top-level function and class nbdev exported"
    from medfast._modidx import d
    out = {}
    for mod, syms in d['syms'].items():
        if mod in ('medfast.cli', 'medfast.__main__'): continue
        for key in syms:
            name = key[len(mod)+1:]
            if '.' not in name and not name.startswith('_'): out.setdefault(name, mod)
    return out

_where = _public_names()
__all__ = sorted(_where)

def __getattr__(name):
    "Import a public name's module the first time the name is used"
    if name not in _where: raise AttributeError(f"module 'medfast' has no attribute {name!r}")
    import importlib
    obj = getattr(importlib.import_module(_where[name]), name)
    globals()[name] = obj        # cache it; a submodule of the same name never shadows it
    return obj

def __dir__(): return sorted(set(globals()) | set(_where))

from medfast.env import quiet_upstream_warnings as _quiet
_quiet()
