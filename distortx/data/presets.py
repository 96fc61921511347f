"""Built-in dataset protocols of the seed papers, registered through ``distortx_presets``."""
from ..hookspecs import hookimpl
from .preset import PresetSpec
from ..distortions.papers import AHN, AHN_TYPES, DODGE, ENDO, HSIEH

HSIEH_TYPES = ("gaussian_blur", "motion_blur", "gaussian_noise_sigma", "mono_gaussian_noise", "marble", "twirl")
DODGE_TYPES = ("jpeg", "jpeg2000", "gaussian_noise_sigma", "gaussian_blur", "contrast")


PRESETS = (
    PresetSpec(
        name="ahn-classification", task="classification", distortions=AHN_TYPES,
        level_sets=tuple((t, "ahn") for t in AHN_TYPES), level_mode="grid", crop=224,
        splits=(("train", 0.6), ("val", 0.2), ("test", 0.2)), source=AHN,
        description="every reference x 8 types x 3 levels, global distortion",
    ),
    PresetSpec(
        name="ahn-detection-basic", task="detection", distortions=AHN_TYPES,
        level_sets=tuple((t, "ahn") for t in AHN_TYPES), level_mode="variable", crop=300, resize=False,
        regions=(1, 4), region_ratio=(0.3, 0.7), per_image=20, splits=(("train", 0.8), ("test", 0.2)),
        source=AHN, description="1..4 regions, side ratio 0.3..0.7, level uniform between min and max",
    ),
    PresetSpec(
        name="ahn-detection-difficult", task="detection", distortions=AHN_TYPES,
        level_sets=tuple((t, "ahn") for t in AHN_TYPES), level_mode="variable", crop=300, resize=False,
        regions=(5, 9), region_ratio=(0.1, 0.3), per_image=20, splits=(("train", 0.8), ("test", 0.2)),
        source=AHN, description="5..9 regions, side ratio 0.1..0.3",
    ),
    PresetSpec(
        name="hsieh-constant", task="classification", distortions=HSIEH_TYPES,
        level_sets=tuple((t, "hsieh_constant") for t in HSIEH_TYPES), level_mode="random",
        include_reference=True, crop=224, source=HSIEH, description="6 JH-Labs-style types + reference class 0, constant levels",
    ),
    PresetSpec(
        name="hsieh-variable", task="classification", distortions=HSIEH_TYPES,
        level_sets=tuple((t, "hsieh_variable") for t in HSIEH_TYPES), level_mode="variable",
        include_reference=True, crop=224, source=HSIEH, description="6 types + reference class 0, variable levels",
    ),
    PresetSpec(
        name="endo-jpeg", task="classification", distortions=("jpeg",), level_sets=(("jpeg", "endo"),),
        level_mode="random", crop=224, source=ENDO, description="JPEG quality ~ U{1..100}; the quality is the target",
    ),
    PresetSpec(
        name="endo-noise", task="classification", distortions=("gaussian_noise_sigma",),
        level_sets=(("gaussian_noise_sigma", "endo"),), level_mode="variable", crop=224, source=ENDO,
        description="Gaussian noise sigma ~ U[0, 50] (0..255 scale); sigma is the target",
    ),
    PresetSpec(
        name="noise-sigma-mix", task="classification", distortions=("gaussian_noise_sigma", "camera_noise"),
        level_sets=(("gaussian_noise_sigma", "endo"), ("camera_noise", "camera")), level_mode="variable", crop=224,
        source=ENDO, description="half AWGN sigma ~ U[0, 50], half camera noise (signal-dependent, correlated) RMS "
                                 "sigma ~ U[0, 12]; sigma (0..255) is the target of the noise estimator v2",
    ),
    PresetSpec(
        name="dodge-karam", task="classification", distortions=DODGE_TYPES,
        level_sets=tuple((t, "dodge") for t in DODGE_TYPES), level_mode="grid", crop=224, source=DODGE,
        splits=(("test", 1.0),), description="sweep of 5 types over their level grids, for robustness curves",
    ),
)


@hookimpl
def distortx_presets():
    return list(PRESETS)
