"""sipline.b2bua"""
