"""Kinematic models of the home physical-therapy exercises.

Frames (all right-handed, SI units inside the kinematics):

* World: ``x`` forward (the way the person faces), ``y`` to the person's left, ``z`` up.
* Segment (thigh, shank, arm, forearm, or the trunk for a wrist held against the body):
  ``z`` runs along the segment's long axis towards its proximal joint (hip, knee, shoulder,
  elbow), ``x`` points out of the segment's anterior (or lateral, for the arm) surface and
  ``y`` completes the frame. A standing person's thigh, shank and hanging arm have the
  segment frame equal to the world frame.

An exercise moves the sensed segment by rotating it about a fixed axis of its own frame
(``axis``) by up to ``rom_deg`` while its pivot joint translates by ``travel_m``. Models are
written for a left limb; the synthesizer mirrors them for a right limb.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

import numpy as np

Vec3 = tuple[float, float, float]
Shape = Literal["progress", "bump"]

PLACEMENTS: tuple[str, ...] = ("thigh", "shank", "upper_arm", "forearm", "wrist")
"""Body segments a sensor can be worn on."""


@dataclass(frozen=True)
class SegmentKinematics:
    """How one body segment moves during one rep of an exercise.

    Angles follow a per-rep profile: ``"progress"`` rises smoothly from 0 to 1 during the
    outward phase, holds 1, and returns to 0 (e.g. thigh angle in a squat); ``"bump"`` rises
    and falls within each transition and is 0 both at rest and at the rep's peak (e.g. the
    trunk's forward lean while standing up from a chair).

    Attributes:
        rom_deg: peak rotation of the segment about ``axis`` (degrees).
        axis: rotation axis in the segment frame (normalised on use).
        lever_m: sensor position relative to the pivot joint, in the segment frame (m).
        neutral_deg: start-pose orientation, segment to world, as a rotation vector (deg).
        shape: profile followed by the primary rotation.
        travel_m: world displacement of the pivot joint at the rep's peak (m), "progress".
        travel_bump_m: extra world displacement of the pivot halfway through each
            transition (m), "bump" (a foot lifted while stepping, the trunk moving forward).
        secondary_axis: axis (segment frame) of a rotation coupled to the primary one.
        secondary_deg: peak of the coupled rotation (degrees), e.g. humeral rotation during
            shoulder abduction.
        secondary_shape: profile followed by the coupled rotation.
        back_bump: size of the primary rotation's ``"bump"`` in the return transition, as a
            fraction of the outward one (negative: the other way). 1 for a movement that
            retraces itself; a step-up's lead leg steps back down with a small extension of
            the thigh, not with the flexion it stepped up with.
        impact_g: peak vertical acceleration of the damped ~10 Hz transient when a foot or
            heel lands (or the body lands on a chair), in g.
        impact_dps: peak angular rate of the same transient about ``axis`` (deg/s).
        impact_at: when the landings happen: ``"out"`` (end of the outward movement) and/or
            ``"back"`` (end of the return).
    """

    rom_deg: float
    axis: Vec3
    lever_m: Vec3
    neutral_deg: Vec3 = (0.0, 0.0, 0.0)
    shape: Shape = "progress"
    travel_m: Vec3 = (0.0, 0.0, 0.0)
    travel_bump_m: Vec3 = (0.0, 0.0, 0.0)
    secondary_axis: Vec3 = (0.0, 0.0, 1.0)
    secondary_deg: float = 0.0
    secondary_shape: Shape = "progress"
    back_bump: float = 1.0
    impact_g: float = 0.0
    impact_dps: float = 0.0
    impact_at: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        """Validate the axes, shapes and impacts."""
        if not set(self.impact_at) <= {"out", "back"}:
            raise ValueError("impact_at may only contain 'out' and 'back'")
        if self.impact_g < 0 or self.impact_dps < 0:
            raise ValueError("impact_g and impact_dps must be non-negative")
        for name in ("axis", "secondary_axis"):
            if float(np.linalg.norm(getattr(self, name))) < 1e-9:
                raise ValueError(f"{name} must be a non-zero vector")
        for name in ("shape", "secondary_shape"):
            if getattr(self, name) not in ("progress", "bump"):
                raise ValueError(f"{name} must be 'progress' or 'bump'")

    @property
    def unit_axis(self) -> np.ndarray:
        """``axis`` normalised to unit length."""
        a = np.asarray(self.axis, dtype=float)
        return a / np.linalg.norm(a)

    @property
    def unit_secondary_axis(self) -> np.ndarray:
        """``secondary_axis`` normalised to unit length."""
        a = np.asarray(self.secondary_axis, dtype=float)
        return a / np.linalg.norm(a)


@dataclass(frozen=True)
class ExerciseModel:
    """One exercise: identity, typical timing, and per-placement segment kinematics.

    Attributes:
        name: exercise name, e.g. ``"squat"``.
        code: stable wire id (see ``firmware/core/exercises.py``; append only).
        placement: default body segment the sensor is worn on.
        rom_deg: typical rotation of the default segment per rep (degrees).
        rep_duration_s: typical duration of one rep, pauses between reps excluded.
        description: one-line clinical description.
        phases: fractions of a rep spent moving out, holding at the peak, and returning.
        kinematics: segment kinematics for every supported placement (includes
            ``placement``; ``kinematics[placement].rom_deg == rom_deg``).
    """

    name: str
    code: int
    placement: str
    rom_deg: float
    rep_duration_s: float
    description: str
    phases: tuple[float, float, float]
    kinematics: Mapping[str, SegmentKinematics] = field(repr=False)

    def __post_init__(self) -> None:
        """Check consistency and freeze ``kinematics``."""
        if self.placement not in self.kinematics:
            raise ValueError(f"{self.name}: no kinematics for default placement")
        unknown = set(self.kinematics) - set(PLACEMENTS)
        if unknown:
            raise ValueError(f"{self.name}: unknown placements {sorted(unknown)}")
        if abs(self.kinematics[self.placement].rom_deg - self.rom_deg) > 1e-9:
            raise ValueError(f"{self.name}: rom_deg differs from the default placement's")
        if len(self.phases) != 3 or min(self.phases) < 0 or abs(sum(self.phases) - 1) > 1e-9:
            raise ValueError(f"{self.name}: phases must be 3 non-negative fractions summing to 1")
        if self.phases[0] <= 0 or self.phases[2] <= 0:
            raise ValueError(f"{self.name}: outward and return phases must be non-empty")
        if self.rep_duration_s <= 0:
            raise ValueError(f"{self.name}: rep_duration_s must be positive")
        object.__setattr__(self, "kinematics", MappingProxyType(dict(self.kinematics)))

    @property
    def placements(self) -> tuple[str, ...]:
        """Placements this exercise is modelled for."""
        return tuple(self.kinematics)

    def segment(self, placement: str | None = None) -> SegmentKinematics:
        """Kinematics of the sensed segment (default placement when ``None``)."""
        key = self.placement if placement is None else placement
        try:
            return self.kinematics[key]
        except KeyError:
            raise ValueError(
                f"{self.name} is not modelled at placement {key!r}; "
                f"choose one of {self.placements}"
            ) from None


def _model(
    name: str,
    code: int,
    placement: str,
    rep_duration_s: float,
    description: str,
    phases: tuple[float, float, float],
    **kinematics: SegmentKinematics,
) -> ExerciseModel:
    return ExerciseModel(
        name=name,
        code=code,
        placement=placement,
        rom_deg=kinematics[placement].rom_deg,
        rep_duration_s=rep_duration_s,
        description=description,
        phases=phases,
        kinematics=kinematics,
    )


# Axis conventions used below (left limb, segment frame):
#   (0, -1, 0): the segment's distal end swings forward/up (hip or shoulder flexion, knee
#               extension of a hanging shank, elbow flexion), or its proximal end swings back
#   (0, +1, 0): the proximal end swings forward (shank tilting forward over the ankle, trunk
#               leaning forward about the hips)
#   (1, 0, 0):  a hanging arm swings out sideways (abduction of a left arm)
_FWD = (0.0, -1.0, 0.0)
_LEAN = (0.0, 1.0, 0.0)
_ABD = (1.0, 0.0, 0.0)
_LONG = (0.0, 0.0, 1.0)
_SEATED_THIGH = (0.0, -90.0, 0.0)  # thigh horizontal, anterior surface up, hip behind knee
_SUPINE_BENT_THIGH = (0.0, -135.0, 0.0)  # lying, knee bent: thigh rising 45 deg from hip

_EXERCISE_LIST: tuple[ExerciseModel, ...] = (
    _model(
        "generic", 0, "wrist", 2.5,
        "Unknown or unlisted exercise: a generic single-axis limb swing.",
        (0.45, 0.10, 0.45),
        wrist=SegmentKinematics(60.0, _FWD, (0.03, 0.0, -0.25)),
        forearm=SegmentKinematics(60.0, _FWD, (0.04, 0.0, -0.12)),
        thigh=SegmentKinematics(40.0, _FWD, (0.06, 0.0, -0.20)),
    ),
    _model(
        "squat", 1, "thigh", 2.8,
        "Bodyweight squat: hips and knees flex to about 90 deg and extend back to standing.",
        (0.45, 0.10, 0.45),
        # thigh pivots about the knee, which moves forward as the shank tilts
        thigh=SegmentKinematics(80.0, _FWD, (0.06, 0.0, 0.20), travel_m=(0.10, 0.0, -0.04)),
        shank=SegmentKinematics(30.0, _LEAN, (0.04, 0.0, 0.22)),
        # wrist held against the chest: trunk leans about the hips, which sink and move back
        wrist=SegmentKinematics(25.0, _LEAN, (0.20, 0.0, 0.35), travel_m=(-0.15, 0.0, -0.40)),
    ),
    _model(
        "sit_to_stand", 2, "thigh", 3.5,
        "Chair sit-to-stand: rise from sitting to full standing and sit back down.",
        (0.40, 0.20, 0.40),
        thigh=SegmentKinematics(
            85.0, _LEAN, (0.06, 0.0, 0.20), neutral_deg=_SEATED_THIGH,
            travel_m=(-0.03, 0.0, 0.0), impact_g=0.15, impact_dps=15.0, impact_at=("back",),
        ),
        # seated with the feet slightly behind the knees (shank inclined ~12 deg forward),
        # vertical when standing; the knees move over the feet in each transition (bump)
        shank=SegmentKinematics(
            12.0, _FWD, (0.04, 0.0, 0.22), neutral_deg=(0.0, 12.0, 0.0),
            secondary_axis=_LEAN, secondary_deg=15.0, secondary_shape="bump",
        ),
        wrist=SegmentKinematics(
            40.0, _LEAN, (0.20, 0.0, 0.35), shape="bump", travel_m=(0.15, 0.0, 0.45),
        ),
    ),
    _model(
        "mini_squat", 3, "thigh", 2.2,
        "Mini squat: shallow knee bend to about 30-45 deg and back, heels down.",
        (0.45, 0.10, 0.45),
        thigh=SegmentKinematics(35.0, _FWD, (0.06, 0.0, 0.20), travel_m=(0.05, 0.0, -0.01)),
        shank=SegmentKinematics(18.0, _LEAN, (0.04, 0.0, 0.22)),
        wrist=SegmentKinematics(10.0, _LEAN, (0.20, 0.0, 0.35), travel_m=(-0.05, 0.0, -0.12)),
    ),
    _model(
        "heel_raise", 4, "shank", 2.0,
        "Standing heel (calf) raise: rise onto the toes, brief hold, lower the heels.",
        (0.35, 0.25, 0.40),
        # the whole leg rises 6-8 cm while the shank tilts slightly forward
        # heels landing at the end of each rep jolt the leg
        shank=SegmentKinematics(
            6.0, _LEAN, (0.04, 0.0, 0.22), travel_m=(0.02, 0.0, 0.07),
            impact_g=0.25, impact_dps=40.0, impact_at=("back",),
        ),
        # knees straight: the thigh tilts with the shank (CMU: ~5-9 deg at both)
        thigh=SegmentKinematics(
            5.0, _LEAN, (0.06, 0.0, 0.20), travel_m=(0.03, 0.0, 0.075),
            impact_g=0.2, impact_dps=25.0, impact_at=("back",),
        ),
    ),
    _model(
        "straight_leg_raise", 5, "thigh", 3.5,
        "Supine straight-leg raise: lift the straight leg to about 45 deg, hold, lower.",
        (0.35, 0.25, 0.40),
        thigh=SegmentKinematics(45.0, _FWD, (0.06, 0.0, -0.20), neutral_deg=_SEATED_THIGH),
        shank=SegmentKinematics(45.0, _FWD, (0.05, 0.0, -0.65), neutral_deg=_SEATED_THIGH),
    ),
    _model(
        "long_arc_quad", 6, "shank", 3.5,
        "Seated long-arc quad: extend the knee from 90 deg to nearly straight, hold, lower.",
        (0.35, 0.25, 0.40),
        shank=SegmentKinematics(65.0, _FWD, (0.05, 0.0, -0.20)),
        thigh=SegmentKinematics(4.0, _FWD, (0.06, 0.0, -0.20), neutral_deg=_SEATED_THIGH),
    ),
    _model(
        "glute_bridge", 7, "thigh", 3.5,
        "Supine glute bridge: knees bent, lift the hips until thighs align with the trunk.",
        (0.35, 0.25, 0.40),
        # thigh pivots about the (fixed) knee; the hip end rises
        thigh=SegmentKinematics(
            35.0, _LEAN, (0.06, 0.0, 0.20), neutral_deg=_SUPINE_BENT_THIGH,
        ),
        shank=SegmentKinematics(
            10.0, _LEAN, (0.04, 0.0, 0.22), neutral_deg=(0.0, 20.0, 0.0),
        ),
    ),
    _model(
        "lunge", 8, "thigh", 3.6,
        "Forward lunge: step forward, lower the back knee towards the floor, push back.",
        (0.45, 0.10, 0.45),
        # front leg: thigh flexes about the hip, which moves forward and down
        # the front foot lands after the step forward and again after the step back
        thigh=SegmentKinematics(
            75.0, _FWD, (0.06, 0.0, -0.20), travel_m=(0.35, 0.0, -0.35),
            impact_g=0.5, impact_dps=40.0, impact_at=("out", "back"),
        ),
        shank=SegmentKinematics(
            25.0, _LEAN, (0.04, 0.0, 0.22), travel_m=(0.70, 0.0, 0.0),
            travel_bump_m=(0.0, 0.0, 0.08), impact_g=0.8, impact_dps=60.0,
            impact_at=("out", "back"),
        ),
    ),
    _model(
        "step_up", 9, "thigh", 3.2,
        "Step-up: step onto a 15-20 cm step, stand up fully on it, step back down.",
        (0.40, 0.20, 0.40),
        # the lead thigh flexes while the foot is placed on the step and is vertical on top;
        # the lead leg steps down first, reaching back to the floor: a small extension
        thigh=SegmentKinematics(
            55.0, _FWD, (0.06, 0.0, -0.20), shape="bump", travel_m=(0.25, 0.0, 0.20),
            back_bump=-0.25, impact_g=0.4, impact_dps=40.0, impact_at=("out", "back"),
        ),
        # the knee flexes to lift the foot onto the step (CMU: 35-48 deg); less on the way
        # down, where the foot reaches back with the knee nearly straight
        shank=SegmentKinematics(
            35.0, _LEAN, (0.04, 0.0, 0.22), shape="bump", travel_m=(0.30, 0.0, 0.20),
            back_bump=0.4,
            travel_bump_m=(0.0, 0.0, 0.10), impact_g=0.6, impact_dps=60.0,
            impact_at=("out", "back"),
        ),
    ),
    _model(
        "shoulder_abduction", 10, "wrist", 2.4,
        "Standing shoulder abduction: raise the straight arm sideways overhead and lower it.",
        (0.45, 0.05, 0.50),
        # humerus rotates externally as the arm passes 90 deg; slight shoulder shrug
        wrist=SegmentKinematics(
            160.0, _ABD, (0.0, 0.03, -0.58), travel_m=(0.0, 0.0, 0.015),
            secondary_axis=_LONG, secondary_deg=25.0,
        ),
        forearm=SegmentKinematics(
            160.0, _ABD, (0.0, 0.04, -0.42), travel_m=(0.0, 0.0, 0.015),
            secondary_axis=_LONG, secondary_deg=25.0,
        ),
        upper_arm=SegmentKinematics(
            160.0, _ABD, (0.0, 0.05, -0.15), travel_m=(0.0, 0.0, 0.015),
            secondary_axis=_LONG, secondary_deg=25.0,
        ),
    ),
    _model(
        "shoulder_flexion", 11, "wrist", 2.4,
        "Standing shoulder flexion: raise the straight arm forward overhead and lower it.",
        (0.45, 0.05, 0.50),
        wrist=SegmentKinematics(
            150.0, _FWD, (0.0, 0.03, -0.58), travel_m=(0.0, 0.0, 0.01),
            secondary_axis=_LONG, secondary_deg=10.0,
        ),
        forearm=SegmentKinematics(
            150.0, _FWD, (0.0, 0.04, -0.42), travel_m=(0.0, 0.0, 0.01),
            secondary_axis=_LONG, secondary_deg=10.0,
        ),
        upper_arm=SegmentKinematics(
            150.0, _FWD, (0.0, 0.05, -0.15), travel_m=(0.0, 0.0, 0.01),
            secondary_axis=_LONG, secondary_deg=10.0,
        ),
    ),
    _model(
        "biceps_curl", 12, "wrist", 2.6,
        "Biceps curl: flex the elbow from straight to fully bent, palm up, and lower.",
        (0.40, 0.10, 0.50),
        # forearm pivots about the elbow, supinating slightly
        wrist=SegmentKinematics(
            130.0, _FWD, (0.03, 0.0, -0.24), secondary_axis=_LONG, secondary_deg=10.0,
        ),
        forearm=SegmentKinematics(
            130.0, _FWD, (0.04, 0.0, -0.12), secondary_axis=_LONG, secondary_deg=10.0,
        ),
        upper_arm=SegmentKinematics(8.0, _FWD, (0.05, 0.0, -0.15)),
    ),
)

EXERCISES: dict[str, ExerciseModel] = {m.name: m for m in _EXERCISE_LIST}
"""All modelled exercises by name (including ``"generic"``, code 0)."""

EXERCISES_BY_CODE: dict[int, ExerciseModel] = {m.code: m for m in _EXERCISE_LIST}
"""The same models keyed by wire code."""


def get_exercise(name_or_code: str | int) -> ExerciseModel:
    """Look an exercise up by name or wire code (``ValueError`` if unknown)."""
    table: Mapping[str, ExerciseModel] | Mapping[int, ExerciseModel]
    table = EXERCISES_BY_CODE if isinstance(name_or_code, int) else EXERCISES
    try:
        return table[name_or_code]  # type: ignore[index]
    except KeyError:
        raise ValueError(
            f"unknown exercise {name_or_code!r}; known: {sorted(EXERCISES)}"
        ) from None
