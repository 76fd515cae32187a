"""Widgets of the teacher's TUI, one per module; their styles sit beside them in .tcss files."""

from smartsession.tui.widgets.class_header import ClassHeader, HeaderData
from smartsession.tui.widgets.spark import Spark
from smartsession.tui.widgets.student_tile import StudentTile
from smartsession.tui.widgets.tile_grid import TileGrid

__all__ = ["ClassHeader", "HeaderData", "Spark", "StudentTile", "TileGrid"]
