"""The seed papers, cited by distortions, level sets and presets (one spelling everywhere)."""

AHN = "Ahn, Kang, Sohn - Image Distortion Detection using Convolutional Neural Network"
HSIEH = "Hsieh, Duffau, He - Distortion Classifier Using Deep Convolutional Neural Networks"
ENDO = "Endo, Tanaka, Okutomi - CNN-based Classification of Degraded Images"
DODGE = "Dodge, Karam - Understanding How Image Quality Affects Deep Neural Networks"
