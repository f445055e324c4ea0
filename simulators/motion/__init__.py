"""IMU motion synthesizer: realistic body-worn accelerometer + gyroscope data with labels.

Used to test the rep counter (firmware) and the rest of the pipeline without people.

Model
-----
1. Kinematics (:mod:`.exercises`, :mod:`.kinematics`). Each exercise moves one body
   segment (thigh, shank, upper arm, forearm, or the wrist) by rotating it about a fixed
   anatomical axis of the segment (hip/knee flexion, shoulder abduction, ...) through a
   smooth minimum-jerk profile per rep: rest -> move out -> hold -> return -> rest. The
   segment's pivot joint may translate (the knee moving forward in a squat, the leg rising
   in a heel raise), and the sensor sits on a lever arm from the pivot, so tangential and
   centripetal accelerations come out of the physics. A coupled secondary rotation (e.g.
   humeral rotation during abduction), a random off-plane deviation per rep, and a small
   smooth sway/tremor make reps realistically imperfect. Right limbs are mirrored left ones.
2. Person (:mod:`.person`). Tempo, range of motion, pauses, per-rep jitter, fatigue,
   steadiness, left/right side, the sensor's arbitrary mounting rotation on the segment, and
   the sensor's noise, bias, gain errors, slow bias drift, clock error, sample-time jitter
   and dropped samples, all drawn reproducibly by :meth:`Person.random`.
3. Measurement (:mod:`.synthesizer`). At each true sample time the IMU reads the specific
   force ``R^T (a_world - g_world)`` in g (a resting sensor reads +1 g along "up") and the
   body-frame angular rate in deg/s, both in sensor axes, plus sensor errors, quantised to
   16 bits over +-16 g / +-2000 deg/s. ``SyntheticSet.t`` holds the true times of the
   samples actually delivered (after clock error, jitter and dropouts).

Ground truth: ``rep_starts`` and ``rep_times`` (completion) of every rep. Rest (posture
sway and fidgets) and walking (95-125 steps/min, gait-phase leg and arm curves, heel
strikes) are synthesized with ``reps == 0``.

Example::

    rng = np.random.default_rng(7)
    s = synthesize_set("squat", 10, Person.random(rng), rate_hz=52.0, rng=rng)
    s.t, s.acc_g, s.gyro_dps, s.rep_times

All 12 exercises of the wire table (codes 1-12, plus code 0 "generic") are modelled; see
``EXERCISES[name].placements`` for the body segments each supports.
"""

from simulators.motion.exercises import (
    EXERCISES,
    EXERCISES_BY_CODE,
    PLACEMENTS,
    ExerciseModel,
    SegmentKinematics,
    get_exercise,
)
from simulators.motion.person import Person
from simulators.motion.synthesizer import (
    SyntheticSet,
    synthesize_rest,
    synthesize_set,
    synthesize_walking,
)

__all__ = [
    "EXERCISES",
    "EXERCISES_BY_CODE",
    "PLACEMENTS",
    "ExerciseModel",
    "Person",
    "SegmentKinematics",
    "SyntheticSet",
    "get_exercise",
    "synthesize_rest",
    "synthesize_set",
    "synthesize_walking",
]
