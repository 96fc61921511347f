"""The seed papers, cited by distortions, level sets and presets (one spelling everywhere)."""

AHN = "Ahn, Kang, Sohn - Image Distortion Detection using Convolutional Neural Network"
HSIEH = "Hsieh, Duffau, He - Distortion Classifier Using Deep Convolutional Neural Networks"
ENDO = "Endo, Tanaka, Okutomi - CNN-based Classification of Degraded Images"
DODGE = "Dodge, Karam - Understanding How Image Quality Affects Deep Neural Networks"

#: Ahn et al.'s eight distortion types, in the paper's order: the one list (presets, the default model's vocabulary)
AHN_TYPES = ("gaussian_noise", "gaussian_blur", "salt_pepper", "quantization", "jpeg", "lowpass", "nlm_denoise", "fnoise")
