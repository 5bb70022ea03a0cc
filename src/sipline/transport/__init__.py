"""sipline.transport"""
