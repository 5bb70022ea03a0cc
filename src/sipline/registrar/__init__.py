"""sipline.registrar"""
