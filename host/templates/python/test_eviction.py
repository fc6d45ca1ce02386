"""Native unit tests: `python3 -m unittest`."""

import unittest

from policy import HIT, INSERT, Policy


class PolicyTest(unittest.TestCase):
    def test_a_hit_entry_gets_a_second_chance(self) -> None:
        p = Policy(2, {})
        p.apply(bytes([INSERT, INSERT, HIT, INSERT]), [1, 2, 1, 3], [1, 1, 0, 1])
        # 1 was hit, so 2 (the oldest without a chance) made room for 3.
        self.assertEqual(p.evict(8, 0), [2])

    def test_bad_parameters_are_refused_by_name(self) -> None:
        with self.assertRaisesRegex(ValueError, "max_freq"):
            Policy(2, {"max_freq": "0"})
        with self.assertRaisesRegex(ValueError, "nope"):
            Policy(2, {"nope": "1"})


if __name__ == "__main__":
    unittest.main()
