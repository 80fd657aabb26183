__version__ = "0.1.0"

_lazy = {
    'medfast.data': ['pneumonia_dls', 'pneumonia_block', 'folder_dls', 'synthetic_xrays', 'labelled_dl', 'patient_id',
                     'group_splitter'],
    'medfast.learner': ['pneumonia_learner', 'medfast_learner', 'train', 'save_run_record'],
    'medfast.models': ['model_learner', 'arch_names', 'get_arch'],
    'medfast.images': ['open_image', 'image_files', 'verify_images', 'MedImage'],
    'medfast.evaluate': ['evaluate', 'metrics_table', 'choose_threshold'],
    'medfast.plots': ['plot_confusion', 'plot_top_losses', 'plot_roc', 'plot_pr', 'plot_training', 'plot_calibration'],
    'medfast.explain': ['gradcam', 'plot_gradcam'],
    'medfast.compare': ['compare'],
    'medfast.inference': ['export', 'load', 'load_model', 'predict'],
    'medfast.app': ['predict_app'],
}
_where = {name: mod for mod, names in _lazy.items() for name in names}

def __getattr__(name):
    "Import the public API lazily so `import medfast` (and the CLI) start fast"
    if name in _where:
        import importlib
        return getattr(importlib.import_module(_where[name]), name)
    raise AttributeError(f"module 'medfast' has no attribute {name!r}")

def __dir__(): return sorted(list(globals()) + list(_where))
