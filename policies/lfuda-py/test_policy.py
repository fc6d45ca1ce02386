"""Native unit tests: `python3 -m unittest`."""

import unittest

from policy import HIT, INSERT, Policy


class PolicyTest(unittest.TestCase):
    def test_the_least_frequent_leaves_and_ages_the_cache(self) -> None:
        p = Policy(2, {})
        p.apply(bytes([INSERT, INSERT, HIT, INSERT]), [1, 2, 1, 3], [1, 1, 0, 1])
        self.assertEqual(p.evict(8, 0), [2])
        self.assertEqual(p.age, 1.0)

    def test_parameters_are_refused(self) -> None:
        with self.assertRaisesRegex(ValueError, "x"):
            Policy(1, {"x": "1"})


if __name__ == "__main__":
    unittest.main()
