"""Class vocabularies: what the output columns of a model mean, saved with it so predictions carry names.

Classification classes are ``("clean", *types)``: a photo with no distortion must be answerable.
Detection classes are ``("background", *types)``: SSD's column 0. The types default to Ahn et al.'s eight
(the ``ahn-*`` presets); a preset name takes that preset's types.
"""
from __future__ import annotations

from typing import Optional, Sequence, Tuple, Union

from ..distortions.papers import AHN_TYPES
from ..errors import ParameterError

CLEAN = "clean"
BACKGROUND = "background"
REFERENCE = "reference"  # the presets' name of the undistorted class
DEFAULT_TYPES = AHN_TYPES  # a model built without classes distinguishes Ahn's eight types


def resolve_types(classes: Union[str, Sequence[str], None] = None, num_classes: Optional[int] = None) -> Tuple[str, ...]:
    """The distortion types a model predicts.

    classes: None (Ahn's eight types, or ``type_1..`` when ``num_classes`` is given), a preset name, or a
    sequence of type names (a leading "clean" / "reference" / "background" is dropped).
    num_classes: output columns including clean / background (= number of types + 1); checked against classes.
    """
    if isinstance(classes, str):
        from ..registry import get_preset

        types: Tuple[str, ...] = tuple(get_preset(classes).distortions)
    elif classes is None:
        if num_classes is None:
            types = DEFAULT_TYPES
        else:
            if int(num_classes) < 2:
                raise ParameterError(f"num_classes counts clean/background too and must be >= 2, got {num_classes}")
            types = tuple(f"type_{i}" for i in range(1, int(num_classes)))
    else:
        types = tuple(str(c) for c in classes)
        while types and types[0] in (CLEAN, REFERENCE, BACKGROUND):
            types = types[1:]
    if not types:
        raise ParameterError("a model needs at least one distortion type in classes")
    if len(set(types)) != len(types):
        raise ParameterError(f"classes must be unique, got {list(types)}")
    bad = [t for t in types if not t or t in (CLEAN, REFERENCE, BACKGROUND)]
    if bad:
        raise ParameterError(f"{bad[0]!r} cannot be a distortion type: clean/background is added by the model")
    if num_classes is not None and int(num_classes) != len(types) + 1:
        raise ParameterError(f"num_classes={num_classes} does not match {len(types)} types + clean/background; "
                             f"give one of them, or num_classes={len(types) + 1}")
    return types


def classification_classes(types: Sequence[str]) -> Tuple[str, ...]:
    return (CLEAN, *types)


def detection_classes(types: Sequence[str]) -> Tuple[str, ...]:
    return (BACKGROUND, *types)
