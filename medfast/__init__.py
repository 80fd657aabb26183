"""medfast: train, evaluate, explain and ship transfer-learning medical image classifiers in a few notebook cells.

Every public function, class and constant of every module is importable from the top level (`from medfast import
evaluate, pneumonia_study, BLOOD8`). The names are read from each module's `__all__` (written by `nbdev-export`)
without importing the module, and each module is imported only when one of its names is first used, so
`import medfast` and the `medfast` command start fast."""
__version__ = "0.1.0"

def _public_names() -> dict:
    "{name: module} for every name in the `__all__` of each exported module, read from its file (a literal list) unimported"
    import ast, re
    from pathlib import Path
    root, out = Path(__file__).parent, {}
    for f in sorted(root.rglob('*.py')):
        mod = '.'.join(('medfast', *f.relative_to(root).with_suffix('').parts))
        if mod in ('medfast.cli', 'medfast.__main__', 'medfast._modidx') or f.name == '__init__.py': continue
        if m := re.search(r'^__all__\s*=\s*(\[.*?\])', f.read_text(encoding='utf-8'), re.M | re.S):
            for name in ast.literal_eval(m.group(1)): out.setdefault(name, mod)
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
