"""Engine: training, evaluation, metrics and robustness sweeps over distortx models and any classifier."""
