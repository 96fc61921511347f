"""Op codes of the distortions the fused native kernel implements. Twin: ``csrc/distort/codes.h``."""

NATIVE_CODES = {
    "gaussian_noise": 1,
    "gaussian_noise_sigma": 2,
    "mono_gaussian_noise": 3,
    "salt_pepper": 4,
    "quantization": 5,
    "contrast": 6,
    "fnoise": 7,
    "gaussian_blur": 8,
    "motion_blur": 9,
    "lowpass": 10,
    "marble": 11,
    "twirl": 12,
    "jpeg": 13,
    "nlm_denoise": 14,
    "mono_salt_pepper": 15,
}
