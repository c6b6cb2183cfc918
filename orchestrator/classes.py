"""COCO class names (the label set of the bundled detectors)."""

from __future__ import annotations

COCO_CLASSES: tuple[str, ...] = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat",
    "traffic light", "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog",
    "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella",
    "handbag", "tie", "suitcase", "frisbee", "skis", "snowboard", "sports ball", "kite",
    "baseball bat", "baseball glove", "skateboard", "surfboard", "tennis racket", "bottle",
    "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple", "sandwich", "orange",
    "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch", "potted plant",
    "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard", "cell phone",
    "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase", "scissors",
    "teddy bear", "hair drier", "toothbrush",
)  # fmt: skip


def class_id(name_or_id: str | int, names: tuple[str, ...] = COCO_CLASSES) -> int:
    """Resolve a class given by name or id to its id.

    >>> class_id("car")
    2
    """
    if isinstance(name_or_id, int):
        if not 0 <= name_or_id < len(names):
            raise ValueError(f"class id must be in 0..{len(names) - 1}, got {name_or_id}")
        return name_or_id
    try:
        return names.index(name_or_id)
    except ValueError:
        raise ValueError(f"unknown class {name_or_id!r}; known: person, car, truck, ...") from None


def class_name(cid: int, names: tuple[str, ...] = COCO_CLASSES) -> str:
    return names[cid] if 0 <= cid < len(names) else str(cid)
