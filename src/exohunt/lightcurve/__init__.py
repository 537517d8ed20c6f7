"""The transit science: pure functions on arrays, light curves in, numbers and arrays out.

- :mod:`~exohunt.lightcurve.clean`: drop bad cadences, normalise, detrend, clip (units: days).
- :mod:`~exohunt.lightcurve.views`: fold and bin into AstroNet global and local views.
- :mod:`~exohunt.lightcurve.vetting`: odd-even depths, secondary eclipse, transit shape.
- :mod:`~exohunt.lightcurve.bls`: the BLS period search, fast and astropy reference.
- :mod:`~exohunt.lightcurve.features`: the features of one light curve (statistics, search).
- :mod:`~exohunt.lightcurve.view_shape`: shape measures of views, as a vetter reads them.
- :mod:`~exohunt.lightcurve.simulate`: Kepler-like light curves with planets and binaries.
- :mod:`~exohunt.lightcurve.simulate_noise`: the simulated stars' brightness and noise.
"""
