"""Exercise codes as they travel on the wire (record byte 6). Append only: never renumber."""

NAMES = (
    "generic",  # 0: no exercise given, generic counting
    "squat",
    "sit_to_stand",
    "mini_squat",
    "heel_raise",
    "straight_leg_raise",
    "long_arc_quad",
    "glute_bridge",
    "lunge",
    "step_up",
    "shoulder_abduction",
    "shoulder_flexion",
    "biceps_curl",
)


def name_of(code: int) -> str:
    """The exercise's name, or 'unknown-N' for a code newer than this table."""
    return NAMES[code] if 0 <= code < len(NAMES) else "unknown-%d" % code


def code_of(name: str) -> int:
    """The wire code of an exercise name (ValueError if unknown)."""
    for i in range(len(NAMES)):
        if NAMES[i] == name:
            return i
    raise ValueError("unknown exercise %r" % name)
