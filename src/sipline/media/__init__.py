"""sipline.media"""
