"""How many faces the picture holds (tqa.features.face_count): a side-by-side comparison is
not one talking face. Oracle: pictures built with a known number of real faces."""

from __future__ import annotations

import numpy as np
import pytest

from tqa.features.face_count import MAX_FACES, SAMPLES, count_faces, sample_indices


def _face(size: int = 128, flip: bool = False) -> np.ndarray:
    """(size, size, 3) uint8: the face of scikit-image's astronaut (a real photograph)."""
    import cv2
    from skimage.data import astronaut

    face = cv2.resize(astronaut()[20:230, 120:330], (size, size))
    return np.ascontiguousarray(face[:, ::-1] if flip else face)


def _clip(picture: np.ndarray, n: int = 20) -> np.ndarray:
    return np.repeat(picture[None], n, axis=0)


def test_sample_indices_spread_evenly_and_never_repeat() -> None:
    # k * 149 / 4 for k = 0..4, rounded half to even (74.5 -> 74)
    assert sample_indices(150).tolist() == [0, 37, 74, 112, 149]
    assert sample_indices(3).tolist() == [0, 1, 2]
    assert sample_indices(1).tolist() == [0]
    assert sample_indices(0).tolist() == []
    assert len(sample_indices(10_000)) == SAMPLES


def test_counts_the_faces_of_a_side_by_side_picture() -> None:
    one = _face()
    grey = np.full_like(one, 128)
    assert count_faces(_clip(one)) == 1
    assert count_faces(_clip(grey)) == 0
    assert count_faces(_clip(np.hstack([one, _face(flip=True)]))) == 2
    assert count_faces(_clip(np.hstack([one, grey, _face(flip=True)]))) == 2
    grid = np.vstack([np.hstack([one, _face(flip=True)]), np.hstack([_face(flip=True), one])])
    assert count_faces(_clip(grid)) == 4 == MAX_FACES
    assert count_faces(np.zeros((0, 128, 128, 3), np.uint8)) is None


@pytest.mark.parametrize(("frames_with_two", "expected"), [(2, 1), (3, 2)])
def test_a_face_counts_when_it_is_on_most_sampled_frames(frames_with_two, expected) -> None:
    """The median over the 5 sampled frames: a second face on 2 of them is a slip, on 3 it
    is there."""
    single = np.hstack([_face(), np.full((128, 128, 3), 128, np.uint8)])
    double = np.hstack([_face(), _face(flip=True)])
    frames = _clip(single, 150)
    for i in sample_indices(150)[:frames_with_two]:
        frames[i] = double
    assert count_faces(frames) == expected
