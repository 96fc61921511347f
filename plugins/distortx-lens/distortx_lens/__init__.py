"""Example distortx plugin: vignetting and lateral chromatic aberration."""
