"""sipline.routing"""
