"""sipline.dialog"""
