"""Members, cross-fitting, stacking, calibration, metrics, CV and the model bundle."""
