"""The numbers of Endo, Tanaka, Okutomi, *CNN-based Classification of Degraded Images* (Tables 2, 3, 5, 6),
set beside ours in every table."""

#: Table 2 (JPEG quality, CIFAR-10 test) and Table 5 (noise sigma): truth -> (mean, S.D.)
ESTIMATOR = {
    "jpeg": {20: (20.84, 2.28), 40: (40.93, 3.91), 60: (58.58, 4.07), 80: (79.53, 3.07), 100: (94.91, 1.91)},
    "noise": {10: (10.03, 0.42), 20: (20.11, 0.54), 30: (30.16, 0.69), 40: (40.11, 0.89), 50: (49.26, 0.70)},
}

#: Table 3 (JPEG CIFAR-10) and Table 6 (Gaussian noisy CIFAR-10): interval -> (Org, Jpg|Noisy, +Est)
INTERVALS = {
    "jpeg": {(1, 20): (0.431, 0.724, 0.744), (21, 40): (0.700, 0.844, 0.849), (41, 60): (0.763, 0.857, 0.864),
             (61, 80): (0.799, 0.866, 0.872), (81, 100): (0.861, 0.874, 0.880)},
    "noise": {(0, 10): (0.796, 0.851, 0.882), (11, 20): (0.328, 0.844, 0.872), (21, 30): (0.138, 0.829, 0.856),
              (31, 40): (0.106, 0.809, 0.834), (41, 50): (0.101, 0.785, 0.810)},
}

#: column names in the paper's tables
NETWORKS = {"jpeg": ("Org", "Jpg", "Jpg and Est. Q.F."), "noise": ("Org", "Noisy", "Noisy and Est. N.L.")}
