"""sipline.transaction"""
