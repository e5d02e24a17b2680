"""Component types of this package, listed by `dg list components` through the registry entry point."""

from dataplat_ml_training.component import ModelTrainingComponent

__all__ = ["ModelTrainingComponent"]
