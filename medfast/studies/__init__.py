"""The study recipes: one module per study, each built only on the shared layers below it."""
