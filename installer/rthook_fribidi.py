# PyInstaller runtime hook: open the bundled FriBiDi before anything imports Pillow's
# ImageFont (which looks FriBiDi up by name only once). See kiosk_agent/notices/shaping.py.
from kiosk_agent.notices.shaping import preload

preload()
