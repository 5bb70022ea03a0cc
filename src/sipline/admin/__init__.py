"""sipline.admin"""
