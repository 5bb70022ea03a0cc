"""sipline.sip"""
