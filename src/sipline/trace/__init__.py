"""sipline.trace"""
