__version__ = "0.1.0"

_lazy = {
    'pneumonia_learner': 'medfast.learner',
    'pneumonia_dls': 'medfast.data',
    'folder_dls': 'medfast.data',
    'synthetic_xrays': 'medfast.data',
}

def __getattr__(name):
    "Import the public API lazily so `import medfast` (and the CLI) start fast"
    if name in _lazy:
        import importlib
        return getattr(importlib.import_module(_lazy[name]), name)
    raise AttributeError(f"module 'medfast' has no attribute {name!r}")

def __dir__(): return sorted(list(globals()) + list(_lazy))
