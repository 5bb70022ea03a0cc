"""sipline.analysis"""
