"""sipline.store"""
