"""sipline.proxy"""
