"""What the project package announces to the apps above it, which it does not
import: they connect in their `AppConfig.ready`."""

from django.dispatch import Signal

# Sent inside the move's transaction with `federations`: the ancestors whose
# subtree gained or lost the moved federation. Figures kept per subtree are
# recounted by whoever keeps them (allocations' person counts).
federation_moved = Signal()
